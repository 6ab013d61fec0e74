# Fails unless README.md contains each example file verbatim, so that the
# code a reader copies is the code the tests compile and run.
file(READ "${README}" readme)
string(REPLACE "|" ";" EXAMPLES "${EXAMPLES}")  # "a|b": no list through CTest's quoting
foreach(example IN LISTS EXAMPLES)
  file(READ "${example}" code)
  string(FIND "${readme}" "${code}" at)
  if(at EQUAL -1)
    get_filename_component(name "${example}" NAME)
    message(FATAL_ERROR "README.md does not show examples/${name} as it is: copy the file into its code block")
  endif()
endforeach()
