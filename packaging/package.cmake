# Two Debian packages, built by scripts/package.sh (cpack in the build directory):
#   mitigd                     the daemon, mitigctl, the unit, config, man pages, docs, alert rules
#   libnginx-mod-http-mitigd   the nginx module, tied to the nginx ABI it was built against (as
#                              Debian's own libnginx-mod-* are), with its modules-available conf
# Everything installed without a COMPONENT belongs to mitigd (CMAKE_INSTALL_DEFAULT_COMPONENT_NAME).

# Man pages: written by hand (docs/man), compressed reproducibly at build time.
set(man_out ${CMAKE_BINARY_DIR}/man)
set(man_pages)
foreach(page mitigd.8 mitigctl.8)
  add_custom_command(OUTPUT ${man_out}/${page}.gz
    COMMAND ${CMAKE_COMMAND} -E make_directory ${man_out}
    COMMAND gzip -9n -c ${PROJECT_SOURCE_DIR}/docs/man/${page} > ${man_out}/${page}.gz
    DEPENDS ${PROJECT_SOURCE_DIR}/docs/man/${page})
  list(APPEND man_pages ${man_out}/${page}.gz)
endforeach()
add_custom_command(OUTPUT ${man_out}/changelog.gz
  COMMAND ${CMAKE_COMMAND} -E make_directory ${man_out}
  COMMAND gzip -9n -c ${PROJECT_SOURCE_DIR}/packaging/changelog > ${man_out}/changelog.gz
  DEPENDS ${PROJECT_SOURCE_DIR}/packaging/changelog)
add_custom_target(man_pages ALL DEPENDS ${man_pages} ${man_out}/changelog.gz)

install(FILES examples/mitigd.service DESTINATION lib/systemd/system)
install(FILES examples/etc/mitigd.json examples/etc/inventory.json DESTINATION /etc/mitigd)
install(FILES docs/formats.md docs/rules.md docs/plan-json.md docs/feed.md docs/deploy.md docs/json.md
        DESTINATION share/doc/mitigd/docs)
install(FILES README.md packaging/copyright DESTINATION share/doc/mitigd)
install(FILES ${man_out}/changelog.gz DESTINATION share/doc/mitigd)
install(FILES ${man_pages} DESTINATION share/man/man8)
install(FILES packaging/mitigd-alerts.yml DESTINATION share/mitigd/prometheus)
install(FILES packaging/lintian-overrides DESTINATION share/lintian/overrides RENAME mitigd)
install(FILES packaging/copyright ${man_out}/changelog.gz
        DESTINATION share/doc/libnginx-mod-http-mitigd COMPONENT nginxmodule)

# The ABI of the nginx the module is built against, from nginx-dev (what dh_nginx reads).
set(nginx_abi_file /usr/share/nginx/src/debian/libnginx-mod.abisubstvars)
set(nginx_abi "")
if(EXISTS ${nginx_abi_file})
  file(STRINGS ${nginx_abi_file} abi_line REGEX "^nginx:abi=")
  string(REGEX REPLACE "^nginx:abi=" "" nginx_abi "${abi_line}")
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME mitigd)
set(CPACK_PACKAGE_VENDOR "mitigd developers")
set(CPACK_PACKAGE_CONTACT "mitigd developers <dev@mitigd.invalid>")
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL mitigd)
if(TARGET nginx_module)
  list(APPEND CPACK_COMPONENTS_ALL nginxmodule)
endif()
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
set(CPACK_STRIP_FILES ON)  # 66 MB binaries with debug info become ~5 MB

set(CPACK_DEBIAN_MITIGD_PACKAGE_NAME mitigd)
set(CPACK_DEBIAN_MITIGD_PACKAGE_SECTION admin)
set(CPACK_DEBIAN_MITIGD_DESCRIPTION "emergency mitigation service for Linux servers
mitigd applies signed mitigations (request rules in nginx or Apache, stopped
services, application pools and virtual directories taken offline) until the
security update that supersedes them is installed, then reverts them by
itself. Every change is planned as a reviewable dry run, applied as a
transaction and recorded in a ledger and a hash-chained audit log.")
# procps: the unit's ExecReload (/bin/kill -HUP); the shared libraries are added by shlibdeps.
set(CPACK_DEBIAN_MITIGD_PACKAGE_DEPENDS "procps")
set(CPACK_DEBIAN_MITIGD_PACKAGE_RECOMMENDS "libnginx-mod-http-mitigd | libnginx-mod-http-set-misc")
set(CPACK_DEBIAN_MITIGD_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/packaging/postinst ${PROJECT_SOURCE_DIR}/packaging/prerm
  ${PROJECT_SOURCE_DIR}/packaging/postrm ${PROJECT_SOURCE_DIR}/packaging/conffiles)

set(CPACK_DEBIAN_NGINXMODULE_PACKAGE_NAME libnginx-mod-http-mitigd)
set(CPACK_DEBIAN_NGINXMODULE_PACKAGE_SECTION httpd)
set(CPACK_DEBIAN_NGINXMODULE_DESCRIPTION "nginx module evaluating mitigd's request rules
The rule engine of mitigd inside nginx: one directive per mitigation rule,
evaluated over the decoded request with a literal prefilter. mitigd writes
the rules; this package only loads the module.")
set(CPACK_DEBIAN_NGINXMODULE_PACKAGE_DEPENDS "${nginx_abi}")
set(CPACK_DEBIAN_NGINXMODULE_PACKAGE_CONTROL_EXTRA
  ${PROJECT_SOURCE_DIR}/packaging/module/postinst ${PROJECT_SOURCE_DIR}/packaging/module/prerm
  ${PROJECT_SOURCE_DIR}/packaging/module/postrm)
include(CPack)
