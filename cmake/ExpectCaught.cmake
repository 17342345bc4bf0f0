# MUT-1, SAN-*: runs COMMAND ARGS (a mutant build, or a deliberate-bug
# program under its tool) and passes only when it fails AND its output
# matches EXPECT (the clause, or the tool's report and the user's function).
# One that passes, or fails for another reason, fails this test.
# INVERT: pass only when the command succeeds WITHOUT matching EXPECT (a
# mutant that blinds a tool: the SAN test would then fail).
# ARGS: the command's arguments, separated by "|".
string(REPLACE "|" ";" ARGS "${ARGS}")
execute_process(COMMAND ${COMMAND} ${ARGS}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(INVERT)
  if(rc EQUAL 0 AND NOT "${out}${err}" MATCHES "${EXPECT}")
    message(STATUS "MUT-1: the mutant blinds the tool: no ${EXPECT}")
    return()
  endif()
  message(FATAL_ERROR "MUT-1: the tool still reports ${EXPECT} on the mutant\n${out}${err}")
endif()
if(rc EQUAL 0)
  message(FATAL_ERROR "MUT-1/SAN: the bug was not caught: ${COMMAND} ${ARGS} passed\n${out}${err}")
endif()
if(NOT "${out}${err}" MATCHES "${EXPECT}")
  message(FATAL_ERROR "MUT-1/SAN: it failed without matching ${EXPECT}:\n${out}${err}")
endif()
message(STATUS "MUT-1/SAN: caught (exit ${rc}); the output matches ${EXPECT}")
