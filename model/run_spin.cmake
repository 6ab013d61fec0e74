# Runs one exhaustive Spin verification of model/ring.pml and judges it.
#
#   cmake -DSPIN=spin -DCC=cc -DMODEL=ring.pml -DWORKDIR=dir -DDEFS="-DA=1 -DB=2"
#         -DMODE=safety|progress|progress_fair -DEXPECT=pass|P1..P8 -P run_spin.cmake
#
# EXPECT=pass: the search must complete with no error. EXPECT=Pn: Spin must
# find a violation of property n (a mutant, or a known bug), not just any
# error. In safety mode the model is compiled with -DONLY=n, which keeps only
# Pn's assertions, and the violated assertion must be one of Pn's; P7 in a
# progress mode is a non-progress cycle. The counterexample is replayed so
# the log shows the interleaving.

foreach(v SPIN CC MODEL WORKDIR MODE EXPECT)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "run_spin.cmake: ${v} is not set")
  endif()
endforeach()
separate_arguments(DEFS UNIX_COMMAND "${DEFS}")
set(property "")
if(EXPECT MATCHES "^P([1-8])$")
  set(property "${CMAKE_MATCH_1}")
  if(NOT (property EQUAL 7 AND MODE MATCHES "^progress"))
    list(APPEND DEFS -DONLY=${property})
  endif()
elseif(NOT EXPECT STREQUAL "pass")
  message(FATAL_ERROR "EXPECT must be pass or P1..P8")
endif()

file(REMOVE_RECURSE "${WORKDIR}")
file(MAKE_DIRECTORY "${WORKDIR}")
get_filename_component(model_name "${MODEL}" NAME)
configure_file("${MODEL}" "${WORKDIR}/${model_name}" COPYONLY)

function(run)
  execute_process(COMMAND ${ARGN} WORKING_DIRECTORY "${WORKDIR}" RESULT_VARIABLE rc OUTPUT_VARIABLE out
                  ERROR_VARIABLE out)
  set(run_rc "${rc}" PARENT_SCOPE)
  set(run_out "${out}" PARENT_SCOPE)
endfunction()

run("${SPIN}" -a ${DEFS} "${model_name}")
if(NOT run_rc EQUAL 0)
  message(FATAL_ERROR "spin -a failed:\n${run_out}")
endif()

# -O0: pan.c compiles in seconds at -O0 and in half a minute at -O2, for a
# search that takes seconds either way. MEMLIM caps the search at 1.5 GiB.
set(cflags -O0 -w -DMEMLIM=1536 -DVECTORSZ=2048)
set(pan_args -m400000)
if(MODE STREQUAL "safety")
  list(APPEND cflags -DSAFETY)
elseif(MODE STREQUAL "progress")
  list(APPEND cflags -DNP)
  list(APPEND pan_args -l)
elseif(MODE STREQUAL "progress_fair")
  list(APPEND cflags -DNP)
  list(APPEND pan_args -l -f)
else()
  message(FATAL_ERROR "MODE must be safety, progress or progress_fair")
endif()
run("${CC}" ${cflags} -o pan pan.c)
if(NOT run_rc EQUAL 0)
  message(FATAL_ERROR "compiling pan.c failed:\n${run_out}")
endif()

run(./pan ${pan_args})
set(pan_out "${run_out}")
string(REGEX MATCH "errors: ([0-9]+)" m "${pan_out}")
if(NOT m)
  message(FATAL_ERROR "pan did not report a result (rc ${run_rc}):\n${pan_out}")
endif()
set(errors "${CMAKE_MATCH_1}")
string(REGEX MATCH "([0-9.e+]+) states, stored" m "${pan_out}")
set(states "${CMAKE_MATCH_1}")
string(REGEX MATCH "pan: elapsed time ([0-9.e+]+)" m "${pan_out}")
set(seconds "${CMAKE_MATCH_1}")
message(STATUS "spin ${DEFS} (${MODE}): ${states} states stored, ${errors} errors, ${seconds} s")

if(EXPECT STREQUAL "pass")
  if(NOT errors EQUAL 0)
    run("${SPIN}" -t ${DEFS} "${model_name}")
    message(FATAL_ERROR "Spin found a violation:\n${pan_out}\nCounterexample:\n${run_out}")
  endif()
  # An incomplete search proves nothing.
  if(pan_out MATCHES "max search depth too small|out of memory|Search not completed")
    message(FATAL_ERROR "the search was not exhaustive:\n${pan_out}")
  endif()
  message(STATUS "verified: the search was exhaustive and found no error")
else()
  if(errors EQUAL 0)
    message(FATAL_ERROR "Spin found no error, but this configuration must break P${property}:\n${pan_out}")
  endif()
  string(REGEX MATCH "pan:1: [^\n]*" what "${pan_out}")
  if(property EQUAL 7 AND MODE MATCHES "^progress")
    if(NOT what MATCHES "non-progress cycle")
      message(FATAL_ERROR "expected a non-progress cycle (P7), Spin found: ${what}")
    endif()
  else()
    # CHECK(p, c) reads "(((n!=0)&&(n!=p))||c)" with ONLY=n; CHECK2 has a
    # second "&&(n!=q)". The assertion must be one of Pn's.
    set(n ${property})
    if(NOT what MATCHES "assertion violated \\(+${n}!=0\\)&&\\(${n}!=([0-9]+)\\)\\)(&&\\(${n}!=([0-9]+)\\))?")
      message(FATAL_ERROR "expected a violation of P${n}, Spin found: ${what}")
    endif()
    if(NOT CMAKE_MATCH_1 EQUAL n AND NOT "${CMAKE_MATCH_3}" STREQUAL "${n}")
      message(FATAL_ERROR "expected a violation of P${n}, Spin found: ${what}")
    endif()
  endif()
  run("${SPIN}" -t ${DEFS} "${model_name}")
  string(REGEX MATCHALL "[^\n]*(U:|E[0-9]+:|Error|failed assertion)[^\n]*" trace "${run_out}")
  string(REPLACE ";" "\n" trace "${trace}")
  message(STATUS "found as expected (P${property}): ${what}\n${trace}")
endif()
