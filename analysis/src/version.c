/* Version of the analysis library and the programs built on it (scentrack, scentrack-core). */
#include "an/version.h"

const char an_version_string[] = "scentrack 0.1.0";
