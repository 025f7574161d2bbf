# Build the collar's MCU image (collar-fw/boards/mps2-an386) in a cross build tree of its own and check the
# budgets that the tests and the report rely on. Run by CTest as the fixture of the QEMU tests:
#   cmake -DSRC=<source> -DBIN=<build dir> -P build_image.cmake
# Checks: the image links (its linker script already enforces 64 KiB flash / 16 KiB RAM and no heap), has no
# heap symbol, and a probe that calls malloc FAILS to link with the same script (with and without newlib's
# nosys _sbrk), so the no-heap rule cannot silently stop working.
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SRC} -B ${BIN} -DSCENTRACK_FW_ONLY=ON -DSCENTRACK_WERROR=ON
                        -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=MinSizeRel
                        -DCMAKE_TOOLCHAIN_FILE=${SRC}/collar-fw/cmake/arm-none-eabi.cmake
                RESULT_VARIABLE rc OUTPUT_QUIET)
if(rc)
  message(FATAL_ERROR "cross configure failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BIN} -j2 --target scentrack-collar-mcu.elf RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "MCU image build failed")
endif()
set(elf ${BIN}/collar-fw/scentrack-collar-mcu.elf)
execute_process(COMMAND arm-none-eabi-size -A ${elf} OUTPUT_VARIABLE size_out RESULT_VARIABLE rc)
message(STATUS "arm-none-eabi-size -A (flash = .text + .ARM.exidx + .data; RAM = .data + .bss + .stack):\n${size_out}")
execute_process(COMMAND arm-none-eabi-nm ${elf} OUTPUT_VARIABLE syms)
foreach(sym malloc calloc realloc free _sbrk _sbrk_r _malloc_r)
  if(syms MATCHES "[ \t]${sym}\n")
    message(FATAL_ERROR "the MCU image contains ${sym}: the collar must not use the heap")
  endif()
endforeach()
foreach(extra "" "--specs=nosys.specs")
  execute_process(COMMAND arm-none-eabi-gcc -mcpu=cortex-m4 -mthumb -Os -nostartfiles --specs=nano.specs ${extra}
                          -T ${SRC}/collar-fw/boards/mps2-an386/mps2_an386.ld -Wl,--gc-sections
                          ${SRC}/tests/collar-fw/mcu/heap_probe.c -o ${BIN}/heap_probe.elf
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc OR NOT out MATCHES "must not use the heap")
    message(FATAL_ERROR "a malloc call linked with the board's linker script (${extra}): ${out}")
  endif()
endforeach()
message(STATUS "no-heap rule holds: a malloc call fails to link (with and without nosys _sbrk)")
