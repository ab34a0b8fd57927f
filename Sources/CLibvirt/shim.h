#pragma once
#include <libvirt/libvirt.h>
