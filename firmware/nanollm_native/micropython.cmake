# nanollm_native as a user C module, for ports built with cmake (rp2, esp32):
#   make -C ports/rp2 BOARD=RPI_PICO USER_C_MODULES=<repo>/firmware/nanollm_native/micropython.cmake
# The same source as the dynamic module (Makefile here); the kernels are in the folder above.
add_library(usermod_nanollm_native INTERFACE)

get_filename_component(NANOLLM_FW_DIR ${CMAKE_CURRENT_LIST_DIR}/.. ABSOLUTE)
set(NANOLLM_GEN_DIR ${CMAKE_BINARY_DIR}/nanollm_gen)

# The GELU/exp2 tables header, from lib/nanollm/tables.py (the bytes the Python kernels
# use); the generator only rewrites it when its text changes.
find_package(Python3 REQUIRED COMPONENTS Interpreter)
execute_process(
    COMMAND ${Python3_EXECUTABLE} ${NANOLLM_FW_DIR}/make_tables_h.py ${NANOLLM_GEN_DIR}
    RESULT_VARIABLE NANOLLM_GEN_RESULT
)
if(NOT NANOLLM_GEN_RESULT EQUAL 0)
    message(FATAL_ERROR "nanollm_native: generating the kernel tables failed (firmware/make_tables_h.py)")
endif()
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
    ${NANOLLM_FW_DIR}/../lib/nanollm/tables.py ${NANOLLM_FW_DIR}/make_tables_h.py)

target_sources(usermod_nanollm_native INTERFACE
    ${CMAKE_CURRENT_LIST_DIR}/nanollm_native.c
    ${NANOLLM_FW_DIR}/nanollm_kernels.c
    ${NANOLLM_FW_DIR}/nanollm_simd.c
    ${NANOLLM_FW_DIR}/nanollm_sample.c
)
target_include_directories(usermod_nanollm_native INTERFACE
    ${NANOLLM_FW_DIR}
    ${NANOLLM_GEN_DIR}
)
target_link_libraries(usermod INTERFACE usermod_nanollm_native)
