# SAN-SCRUB: runs COMMAND for each of ARGS_LIST's argument sets (","
# between sets, "|" between the arguments of a set), RUNS times each
# (default 1), and passes only when every run's output matches EXPECT: a
# check that holds in most stack layouts but not all fails here. TRIES
# (default 3): a run that does not match is run again, up to TRIES runs in
# all, and misses only when none of them matches: a stale copy left by the
# library's own frames is there at the same depth every time, while the
# process's random layout (ASLR) made LeakSanitizer miss about one run in
# 1,500 at random depths, with or without the library in the path (tool
# mode too). TRIES=1: every single run must match (the leak test of issue
# 35). INVERT: pass only when at least one set misses (a mutant that must be
# caught: the check would fail on it). REQUIRE (optional): every run's
# output must match it, or the run did not do what the check is about (so
# that neither a pass nor a caught mutant is vacuous).
if(NOT RUNS)
  set(RUNS 1)
endif()
if(NOT TRIES)
  set(TRIES 3)
endif()
string(REPLACE "," ";" ARGS_LIST "${ARGS_LIST}")
set(missed "")
set(retried "")
set(runs 0)
foreach(set IN LISTS ARGS_LIST)
  string(REPLACE "|" ";" args "${set}")
  foreach(run RANGE 1 ${RUNS})
    set(matched FALSE)
    foreach(try RANGE 1 ${TRIES})
      execute_process(COMMAND ${COMMAND} ${args}
        RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
      math(EXPR runs "${runs} + 1")
      if(REQUIRE AND NOT "${out}${err}" MATCHES "${REQUIRE}")
        message(FATAL_ERROR "the run (${set}) did not show ${REQUIRE}:\n${out}${err}")
      endif()
      if("${out}${err}" MATCHES "${EXPECT}")
        set(matched TRUE)
        break()
      endif()
      list(APPEND retried "${set}")
    endforeach()
    if(NOT matched)
      list(APPEND missed "${set}")
    endif()
  endforeach()
endforeach()
list(REMOVE_DUPLICATES retried)
list(LENGTH missed n_missed)
list(LENGTH ARGS_LIST n_sets)
math(EXPR n_sets "${n_sets} * ${RUNS}")
if(retried)
  message(STATUS "run again after a miss: ${retried}")
endif()
if(INVERT)
  if(n_missed GREATER 0)
    message(STATUS "MUT-1: caught: ${n_missed} of ${n_sets} runs without ${EXPECT} in ${TRIES} tries (${missed})")
    return()
  endif()
  message(FATAL_ERROR "MUT-1: the mutant was not caught: every set matched ${EXPECT}")
endif()
if(n_missed GREATER 0)
  message(FATAL_ERROR "${n_missed} of ${n_sets} runs did not report ${EXPECT} in ${TRIES} tries: ${missed}")
endif()
message(STATUS "all ${n_sets} runs matched ${EXPECT} (${runs} processes)")
