# install_units.cmake - run by `cmake --install` (packaging/CMakeLists.txt): installs the
# systemd units of SRC_DIR into UNIT_DIR with /usr/bin/ and /usr/share/doc/keygate in them
# replaced by the install-time prefix's BINDIR and DOCDIR. Honours $DESTDIR and records the
# files in install_manifest.txt like any installed file.
function(kg_install_units src_dir unit_dir bindir docdir)
  foreach(v unit_dir bindir docdir)
    if(NOT IS_ABSOLUTE "${${v}}")
      set(${v} "${CMAKE_INSTALL_PREFIX}/${${v}}")
    endif()
  endforeach()
  file(GLOB units "${src_dir}/*.service")
  foreach(unit ${units})
    get_filename_component(name "${unit}" NAME)
    file(READ "${unit}" text)
    string(REPLACE "/usr/bin/" "${bindir}/" text "${text}")
    string(REPLACE "/usr/share/doc/keygate" "${docdir}" text "${text}")
    set(dest "$ENV{DESTDIR}${unit_dir}/${name}")
    message(STATUS "Installing: ${dest}")
    file(WRITE "${dest}" "${text}")
    file(CHMOD "${dest}" PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ)
    list(APPEND CMAKE_INSTALL_MANIFEST_FILES "${dest}")
  endforeach()
  set(CMAKE_INSTALL_MANIFEST_FILES "${CMAKE_INSTALL_MANIFEST_FILES}" PARENT_SCOPE)
endfunction()
