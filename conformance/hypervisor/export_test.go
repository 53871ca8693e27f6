package hypervisor

// Exported to the external test package (the faults build replies with them).
var (
	MethodDescriptor = methodDescriptor
	NewMessage       = newMessage
)
