import ZedgeCore
import CLibvirt
import CCurl
import CSQLite3
