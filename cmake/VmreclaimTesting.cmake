# How every test of the project is registered with CTest, so that each one
# carries its labels and a timeout (scripts/check_test_labels.py checks it).
#
#   vmreclaim_discover_tests(<gtest target> LABELS <label>... TIMEOUT <seconds>)
#     every test of a GoogleTest binary, found after the build.
#   vmreclaim_add_test(NAME <name> COMMAND <command>... LABELS <label>... TIMEOUT <seconds>
#                      [PROPERTIES <name> <value>...])
#     one command; its exit status decides (a PASS_REGULAR_EXPRESSION would
#     make CTest ignore it, so checks of the output belong in the command).
#
# Why not gtest_discover_tests(... PROPERTIES LABELS "a;b" TIMEOUT n): with
# CMake 3.25 the list loses everything after its first element on its way
# into the generated script, and TIMEOUT is taken as the old spelling of
# DISCOVERY_TIMEOUT, so the tests get CTest's default of 10^7 s. Here the
# properties are set by a script CTest includes after the discovered tests,
# from the list gtest_discover_tests records (TEST_LIST).
#
# The labels (README.md; tests/CMakeLists.txt says what each holds): unit,
# process, stress, policy, alloc, observability, faultinject, fuzz, model,
# example, bench, meta.
include_guard(GLOBAL)
include(GoogleTest)

function(vmreclaim_test_properties_check fn labels timeout)
  if(NOT labels)
    message(FATAL_ERROR "${fn}: LABELS is required")
  endif()
  if(NOT timeout MATCHES "^[1-9][0-9]*$")
    message(FATAL_ERROR "${fn}: TIMEOUT <seconds> is required")
  endif()
  # Every label registered must select tests: the test_labels test checks it.
  set_property(GLOBAL APPEND PROPERTY VMRECLAIM_TEST_LABELS ${labels})
endfunction()

# test_labels (label meta): after every directory has registered its tests,
# checks that each registered label selects at least one test with `ctest -L`
# and that every test has labels and a timeout (scripts/check_test_labels.py).
function(vmreclaim_add_label_check)
  find_package(Python3 REQUIRED COMPONENTS Interpreter)
  set_property(GLOBAL APPEND PROPERTY VMRECLAIM_TEST_LABELS meta)
  get_property(labels GLOBAL PROPERTY VMRECLAIM_TEST_LABELS)
  list(REMOVE_DUPLICATES labels)
  list(SORT labels)
  add_test(NAME test_labels COMMAND ${Python3_EXECUTABLE} ${PROJECT_SOURCE_DIR}/scripts/check_test_labels.py
                                    ${CMAKE_BINARY_DIR} ${labels})
  set_tests_properties(test_labels PROPERTIES LABELS meta TIMEOUT 120)
endfunction()
cmake_language(DEFER DIRECTORY ${CMAKE_SOURCE_DIR} CALL vmreclaim_add_label_check)

function(vmreclaim_discover_tests target)
  cmake_parse_arguments(PARSE_ARGV 1 arg "" "TIMEOUT" "LABELS")
  if(arg_UNPARSED_ARGUMENTS)
    message(FATAL_ERROR "vmreclaim_discover_tests: unexpected ${arg_UNPARSED_ARGUMENTS}")
  endif()
  vmreclaim_test_properties_check(vmreclaim_discover_tests "${arg_LABELS}" "${arg_TIMEOUT}")
  set(list_var vmreclaim_discovered_${target})
  gtest_discover_tests(${target} DISCOVERY_TIMEOUT 60 TEST_LIST ${list_var})
  # Included by CTest after gtest_discover_tests' own include file (the
  # directory's TEST_INCLUDE_FILES run in order), in the same scope, so the
  # list of discovered tests is set. A binary that was not built shows up as
  # <target>_NOT_BUILT, which fails: it gets the labels too.
  set(script "${CMAKE_CURRENT_BINARY_DIR}/${target}_properties.cmake")
  file(WRITE "${script}"
       "if(${list_var})\n"
       "  set_tests_properties(\${${list_var}} PROPERTIES LABELS \"${arg_LABELS}\" TIMEOUT ${arg_TIMEOUT})\n"
       "else()\n"
       "  set_tests_properties(${target}_NOT_BUILT PROPERTIES LABELS \"${arg_LABELS}\" TIMEOUT ${arg_TIMEOUT})\n"
       "endif()\n")
  set_property(DIRECTORY APPEND PROPERTY TEST_INCLUDE_FILES "${script}")
endfunction()

function(vmreclaim_add_test)
  cmake_parse_arguments(PARSE_ARGV 0 arg "" "NAME;TIMEOUT;WORKING_DIRECTORY" "COMMAND;LABELS;PROPERTIES")
  if(arg_UNPARSED_ARGUMENTS OR NOT arg_NAME OR NOT arg_COMMAND)
    message(FATAL_ERROR "vmreclaim_add_test: NAME <name> COMMAND <command>... LABELS ... TIMEOUT ...")
  endif()
  vmreclaim_test_properties_check("vmreclaim_add_test(${arg_NAME})" "${arg_LABELS}" "${arg_TIMEOUT}")
  if(arg_PROPERTIES MATCHES "PASS_REGULAR_EXPRESSION")
    message(FATAL_ERROR "vmreclaim_add_test(${arg_NAME}): PASS_REGULAR_EXPRESSION hides the exit status")
  endif()
  if(arg_WORKING_DIRECTORY)
    add_test(NAME ${arg_NAME} COMMAND ${arg_COMMAND} WORKING_DIRECTORY ${arg_WORKING_DIRECTORY})
  else()
    add_test(NAME ${arg_NAME} COMMAND ${arg_COMMAND})
  endif()
  set_tests_properties(${arg_NAME} PROPERTIES LABELS "${arg_LABELS}" TIMEOUT ${arg_TIMEOUT} ${arg_PROPERTIES})
endfunction()
