/* dashboard_assets.h - the files of `keygate dashboard`'s page, compiled into the CLI
 * (cli/dashboard/ and uPlot from tools/node_modules, embedded by cmake/kg_embed.cmake). */
#ifndef KG_CLI_DASHBOARD_ASSETS_H
#define KG_CLI_DASHBOARD_ASSETS_H

#include <stddef.h>

typedef struct kg_dashboard_asset {
    const char *path; /* URL path, "/index.html" */
    const unsigned char *data;
    size_t len;
} kg_dashboard_asset;

extern const kg_dashboard_asset kg_dashboard_assets[];
extern const size_t kg_dashboard_n_assets;

#endif
