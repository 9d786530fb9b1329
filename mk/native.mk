# The native module for every board architecture is built before the test suite: each
# .mpy is loaded and run on its architecture (x64 here, the others on emulated boards).
APT_PACKAGES += binutils gcc-arm-none-eabi libnewlib-arm-none-eabi \
	gcc-riscv64-unknown-elf picolibc-riscv64-unknown-elf
TEST_DEPS += native-all
