# Runs a command for CTest and passes only if it exits 0 and its output
# matches every given regular expression (in order of the list, anywhere in
# the output). A PASS_REGULAR_EXPRESSION test property would instead make
# CTest ignore the exit status, and with it any sanitizer report.
#   cmake "-DCOMMAND=prog|arg" "-DEXPECT=regex1|regex2" -P run_and_match.cmake
# ('|' separates, so that no list has to survive CTest's quoting.)
if(NOT DEFINED COMMAND)
  message(FATAL_ERROR "run_and_match.cmake: COMMAND is not set")
endif()
string(REPLACE "|" ";" COMMAND "${COMMAND}")
string(REPLACE "|" ";" EXPECT "${EXPECT}")
execute_process(COMMAND ${COMMAND} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
message("${out}${err}")
if(NOT rc STREQUAL "0")
  message(FATAL_ERROR "${COMMAND} exited with ${rc}")
endif()
foreach(re IN LISTS EXPECT)
  if(NOT out MATCHES "${re}")
    message(FATAL_ERROR "the output of ${COMMAND} does not match ${re}")
  endif()
endforeach()
