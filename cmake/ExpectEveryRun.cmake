# SAN-SCRUB: runs COMMAND once for each of ARGS_LIST's argument sets (","
# between sets, "|" between the arguments of a set) and passes only when
# every run's output matches EXPECT: a check that holds in most stack
# layouts but not all fails here. INVERT: pass only when at least one run
# does not match (a mutant that must be caught: the check would fail on it).
string(REPLACE "," ";" ARGS_LIST "${ARGS_LIST}")
set(missed "")
set(runs 0)
foreach(set IN LISTS ARGS_LIST)
  string(REPLACE "|" ";" args "${set}")
  execute_process(COMMAND ${COMMAND} ${args}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
  math(EXPR runs "${runs} + 1")
  if(NOT "${out}${err}" MATCHES "${EXPECT}")
    list(APPEND missed "${set}")
  endif()
endforeach()
list(LENGTH missed n_missed)
if(INVERT)
  if(n_missed GREATER 0)
    message(STATUS "MUT-1: caught: ${n_missed} of ${runs} runs without ${EXPECT} (${missed})")
    return()
  endif()
  message(FATAL_ERROR "MUT-1: the mutant was not caught: all ${runs} runs matched ${EXPECT}")
endif()
if(n_missed GREATER 0)
  message(FATAL_ERROR "${n_missed} of ${runs} runs did not report ${EXPECT}: ${missed}")
endif()
message(STATUS "all ${runs} runs matched ${EXPECT}")
