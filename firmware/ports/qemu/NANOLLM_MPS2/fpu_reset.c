// Cortex-M4 build of nanollm's MPS2 board: the FPU is off at reset (CPACR = 0) and the
// port's startup code does not turn it on, yet the firmware is compiled for hard float.
// This vector table comes first in the image (mps2_nanollm.ld), so the core starts here:
// grant full access to coprocessors 10 and 11 (the FPU), then run the port's own reset
// handler. The other entries are the port's handlers (mcu/arm/errorhandler.c).
#include <stdint.h>

extern uint32_t _estack;
extern void Reset_Handler(void);
extern void NMI_Handler(void);
extern void HardFault_Handler(void);
extern void MemManage_Handler(void);
extern void BusFault_Handler(void);
extern void UsageFault_Handler(void);
extern void SVC_Handler(void);
extern void DebugMon_Handler(void);
extern void PendSV_Handler(void);
extern void SysTick_Handler(void);

// CPACR is at 0xE000ED88; CP10 and CP11 full access is bits 20-23. No stack yet: asm only.
__attribute__((naked)) static void nanollm_fpu_reset(void) {
    __asm volatile (
        "ldr r0, =0xE000ED88\n"
        "ldr r1, [r0]\n"
        "orr r1, r1, #0xF00000\n"
        "str r1, [r0]\n"
        "dsb\n"
        "isb\n"
        "b Reset_Handler\n"
        );
}

const uint32_t nanollm_isr_vector[] __attribute__((section(".nanollm_isr_vector"), used)) = {
    (uint32_t)&_estack,
    (uint32_t)&nanollm_fpu_reset,
    (uint32_t)&NMI_Handler,
    (uint32_t)&HardFault_Handler,
    (uint32_t)&MemManage_Handler,
    (uint32_t)&BusFault_Handler,
    (uint32_t)&UsageFault_Handler,
    0,
    0,
    0,
    0,
    (uint32_t)&SVC_Handler,
    (uint32_t)&DebugMon_Handler,
    0,
    (uint32_t)&PendSV_Handler,
    (uint32_t)&SysTick_Handler,
};
