# Cross-build proto/ and the collar core for a Cortex-M4 (arm-none-eabi-gcc -Os, newlib) and check that
# nothing in them references the heap. Run by CTest:  cmake -DSRC=<source> -DBIN=<build dir> -P cross_build.cmake
execute_process(COMMAND ${CMAKE_COMMAND} -S ${SRC} -B ${BIN} -DSCENTRACK_FW_ONLY=ON -DSCENTRACK_WERROR=ON
                        -DBUILD_TESTING=OFF -DCMAKE_BUILD_TYPE=MinSizeRel
                        -DCMAKE_TOOLCHAIN_FILE=${SRC}/collar-fw/cmake/arm-none-eabi.cmake
                RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "cross configure failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BIN} -j2 RESULT_VARIABLE rc)
if(rc)
  message(FATAL_ERROR "cross build failed")
endif()
set(libs ${BIN}/proto/libscentrack_proto.a ${BIN}/collar-fw/libscentrack_cf.a)
execute_process(COMMAND arm-none-eabi-size -t ${libs} OUTPUT_VARIABLE size_out RESULT_VARIABLE rc)
message(STATUS "arm-none-eabi-size (text = flash, data+bss = static RAM):\n${size_out}")
# The whole MCU image (collar-fw/boards/mps2-an386), linked against the same two libraries: its linker
# script fails the link beyond 64 KiB flash / 16 KiB RAM or on any heap use.
set(mcu_elf ${BIN}/collar-fw/scentrack-collar-mcu.elf)
if(EXISTS ${mcu_elf})
  execute_process(COMMAND arm-none-eabi-size -A ${mcu_elf} OUTPUT_VARIABLE size_out)
  message(STATUS "MCU image (flash = .text + .ARM.exidx + .data; RAM = .data + .bss + .stack):\n${size_out}")
endif()
execute_process(COMMAND arm-none-eabi-nm -u ${libs} OUTPUT_VARIABLE undef)
foreach(sym malloc calloc realloc free strdup _malloc_r _calloc_r _realloc_r _free_r)
  string(REGEX MATCH "[ \t]U ${sym}\n" hit "${undef}")
  if(hit)
    message(FATAL_ERROR "the collar firmware references ${sym}: proto/ and collar-fw/ must not use the heap")
  endif()
endforeach()
