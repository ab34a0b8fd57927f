// Declarations only (include/FuzzDriver.h); SwiftPM wants one source file per C target.
#include "FuzzDriver.h"
