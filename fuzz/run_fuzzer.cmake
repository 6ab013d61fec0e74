# Runs one fuzzer for `ctest -L fuzz`: first every saved regression input
# once, then a bounded fuzzing session from the committed seed corpus.
#   cmake -DFUZZER=bin -DSEEDS=dir -DREGRESSIONS=dir -DWORKDIR=dir -DSECONDS=20 -P run_fuzzer.cmake
foreach(v FUZZER SEEDS REGRESSIONS WORKDIR SECONDS)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run_fuzzer.cmake: ${v} is not set")
  endif()
endforeach()
if(NOT EXISTS "${FUZZER}")
  message(FATAL_ERROR "${FUZZER} is missing (the fuzz_build test builds it)")
endif()

file(GLOB regressions "${REGRESSIONS}/*")
if(regressions)
  execute_process(COMMAND "${FUZZER}" ${regressions} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  list(LENGTH regressions n)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "a regression input fails again:\n${out}")
  endif()
  message(STATUS "${n} regression inputs pass")
endif()

# New inputs go to a working corpus in the build tree; the seeds stay as committed.
file(MAKE_DIRECTORY "${WORKDIR}/corpus" "${WORKDIR}/artifacts")
execute_process(
  COMMAND "${FUZZER}" -max_total_time=${SECONDS} -timeout=20 -rss_limit_mb=2048 -print_final_stats=1
          "-artifact_prefix=${WORKDIR}/artifacts/" "${WORKDIR}/corpus" "${SEEDS}"
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "the fuzzer found a failing input (saved under ${WORKDIR}/artifacts):\n${out}")
endif()
string(REGEX MATCHALL "stat::[a-z_]+: *[0-9]+" stats "${out}")
string(REGEX MATCH "#[0-9]+[ \t]+DONE[^\n]*" done "${out}")
list(JOIN stats ", " stats)
message(STATUS "${done}\n${stats}")
