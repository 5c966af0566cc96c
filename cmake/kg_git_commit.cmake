# kg_git_commit(OUT SRC_DIR): the short (12 hex digits) commit of the git checkout whose top
# level is SRC_DIR, or "unknown" when SRC_DIR is not the top of a checkout (a tarball, a
# container build context without .git, a copy inside some other repository). Sets OUT_GITDIR
# in the caller to the checkout's git directory (empty when unknown), so the caller can re-run
# configuration when HEAD moves. Used by CMakeLists.txt; tests/packaging/version_test.sh runs it
# in script mode too (cmake -P).
function(kg_git_commit out src)
  set(commit unknown)
  set(gitdir "")
  find_package(Git QUIET)
  if(GIT_FOUND)
    execute_process(COMMAND ${GIT_EXECUTABLE} -C ${src} rev-parse --show-toplevel
                            --absolute-git-dir --short=12 HEAD
                    OUTPUT_VARIABLE lines RESULT_VARIABLE rc ERROR_QUIET
                    OUTPUT_STRIP_TRAILING_WHITESPACE)
    if(rc EQUAL 0)
      string(REPLACE "\n" ";" lines "${lines}")
      list(LENGTH lines n)
      if(n EQUAL 3)
        list(GET lines 0 top)
        list(GET lines 1 dir)
        list(GET lines 2 head)
        file(REAL_PATH "${top}" top)
        file(REAL_PATH "${src}" src_real)
        if(top STREQUAL src_real AND head MATCHES "^[0-9a-f]+$")
          set(commit ${head})
          set(gitdir ${dir})
        endif()
      endif()
    endif()
  endif()
  set(${out} ${commit} PARENT_SCOPE)
  set(${out}_GITDIR "${gitdir}" PARENT_SCOPE)
endfunction()
