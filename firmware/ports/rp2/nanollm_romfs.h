// nanollm's Pico firmware (make firmware-rp2): RPI_PICO with a ROMFS partition, included at
// the end of the board's mpconfigboard.h (mk/firmware.mk stages the board from RPI_PICO).
//
// The 2 MB of flash: code from 0, then the ROMFS partition (MicroPython puts it right below
// the filesystem), then the LittleFS filesystem at the top. 640 KB of ROMFS holds the image
// `make romfs` builds (the runtime as .mpy and the default model, 514 KB): its weights are
// read in place, in flash, with no copy in RAM. Stock RPI_PICO firmware has no ROMFS and a
// 1408 KB filesystem; here the filesystem is 768 KB and code may take up to 640 KB.
//   mpremote romfs deploy build/romfs/romfs.img   (mounted at /rom at boot, /rom/lib on sys.path)
#undef MICROPY_HW_FLASH_STORAGE_BYTES
#define MICROPY_HW_FLASH_STORAGE_BYTES (768 * 1024)
#define MICROPY_HW_ROMFS_BYTES (640 * 1024)
