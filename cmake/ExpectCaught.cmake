# MUT-1: runs COMMAND ARGS against a mutant build and passes only when it
# fails AND its output names the clause EXPECT. A mutant that survives, or
# that fails for another reason, fails this test.
# ARGS: the command's arguments, separated by "|".
string(REPLACE "|" ";" ARGS "${ARGS}")
execute_process(COMMAND ${COMMAND} ${ARGS}
  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE err)
if(rc EQUAL 0)
  message(FATAL_ERROR "MUT-1: the mutant survived: ${COMMAND} ${ARGS} passed\n${out}${err}")
endif()
if(NOT "${out}${err}" MATCHES "${EXPECT}")
  message(FATAL_ERROR "MUT-1: the mutant failed without naming ${EXPECT}:\n${out}${err}")
endif()
message(STATUS "MUT-1: mutant caught (exit ${rc}); the failure names ${EXPECT}")
