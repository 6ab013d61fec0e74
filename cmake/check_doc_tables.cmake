# Keeps the documents in step with the project's tables. PROGRAM is
# vmreclaim_doc_tables (tests/unit/doc_tables.cpp), MODE one of:
#
#   tunables      DOCS (README.md) holds, between the lines
#                   <!-- tunables: made from src/policy/tunables.def -->
#                   <!-- end of tunables -->
#                 exactly what `PROGRAM tunables` prints; on a difference the
#                 table to paste is printed.
#   guard-faults  each file of DOCS ("a|b") has a table headed "| fault | when |"
#                 whose first column names every fault of
#                 include/vmreclaim/guard_faults.def once, and nothing else.
execute_process(COMMAND "${PROGRAM}" "${MODE}" OUTPUT_VARIABLE expected RESULT_VARIABLE rc)
if(NOT rc EQUAL 0)
  message(FATAL_ERROR "${PROGRAM} ${MODE} failed (${rc})")
endif()
string(REPLACE "|" ";" DOCS "${DOCS}")  # "a|b": no list through CTest's quoting

if(MODE STREQUAL "tunables")
  file(READ "${DOCS}" readme)
  set(begin_marker "<!-- tunables: made from src/policy/tunables.def -->\n")
  set(end_marker "<!-- end of tunables -->")
  string(FIND "${readme}" "${begin_marker}" begin)
  string(FIND "${readme}" "${end_marker}" end)
  if(begin EQUAL -1 OR end EQUAL -1 OR end LESS begin)
    message(FATAL_ERROR "${DOCS} has no table of tunables between the markers\n${begin_marker}${end_marker}")
  endif()
  string(LENGTH "${begin_marker}" begin_length)
  math(EXPR from "${begin} + ${begin_length}")
  math(EXPR length "${end} - ${from}")
  string(SUBSTRING "${readme}" ${from} ${length} shown)
  if(NOT shown STREQUAL expected)
    message(FATAL_ERROR "${DOCS}: the table of tunables is not src/policy/tunables.def's; "
                        "replace the lines between the markers with:\n${expected}")
  endif()
elseif(MODE STREQUAL "guard-faults")
  string(STRIP "${expected}" expected)
  string(REPLACE "\n" ";" expected "${expected}")
  foreach(doc IN LISTS DOCS)
    # Whole-text searches: Markdown's brackets do not survive a CMake list of lines.
    file(READ "${doc}" text)
    string(FIND "${text}" "| fault | when |\n" at)
    if(at EQUAL -1)
      message(FATAL_ERROR "${doc} has no table of guard faults (| fault | when |)")
    endif()
    string(SUBSTRING "${text}" ${at} -1 table)
    string(FIND "${table}" "\n\n" stop)
    if(NOT stop EQUAL -1)
      string(SUBSTRING "${table}" 0 ${stop} table)
    endif()
    string(REGEX MATCHALL "\n\\| `[A-Z_]+` \\|" rows "${table}")
    set(names "")
    foreach(row IN LISTS rows)
      string(REGEX REPLACE "^\n\\| `([A-Z_]+)` \\|$" "\\1" name "${row}")
      list(APPEND names "${name}")
    endforeach()
    list(SORT names)
    if(NOT names STREQUAL expected)
      message(FATAL_ERROR "${doc}: the table of guard faults names ${names}; "
                          "include/vmreclaim/guard_faults.def has ${expected}")
    endif()
  endforeach()
else()
  message(FATAL_ERROR "MODE must be tunables or guard-faults")
endif()
