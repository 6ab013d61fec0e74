# Configures and builds fuzz/clang with clang++ (the `fuzzers` target and the
# fuzz_build test run this).
#   cmake -DCLANGXX= -DCLANG= -DSOURCE_DIR= -DBINARY_DIR= -DLIB_SOURCES="a;b" -P build_fuzzers.cmake
foreach(v CLANGXX CLANG SOURCE_DIR BINARY_DIR LIB_SOURCES)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "build_fuzzers.cmake: ${v} is not set")
  endif()
endforeach()
string(REPLACE "|" ";" LIB_SOURCES "${LIB_SOURCES}")
execute_process(
  COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/fuzz/clang -B ${BINARY_DIR} -DCMAKE_BUILD_TYPE=
          -DCMAKE_CXX_COMPILER=${CLANGXX} -DCMAKE_C_COMPILER=${CLANG} -DVMRECLAIM_SOURCE_DIR=${SOURCE_DIR}
          "-DVMRECLAIM_LIB_SOURCES=${LIB_SOURCES}"
  RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "configuring the fuzzers failed")
endif()
execute_process(COMMAND ${CMAKE_COMMAND} --build ${BINARY_DIR} -j2 RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "building the fuzzers failed")
endif()
