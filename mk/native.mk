# The native module's x64 build is part of the test suite; the ARM builds are checked
# to build and link when the cross compiler is present (it is installed here).
APT_PACKAGES += binutils gcc-arm-none-eabi libnewlib-arm-none-eabi
TEST_DEPS += native native-arm-if-present

.PHONY: native-arm-if-present
native-arm-if-present:
	@if command -v arm-none-eabi-gcc >/dev/null; then \
		$(MAKE) -s native ARCH=armv6m && $(MAKE) -s native ARCH=armv7emsp; fi
