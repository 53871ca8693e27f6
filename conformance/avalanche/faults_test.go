package avalanche_test

const faultEnv = "VMTESTBED_AVA_FAULT_GROUP"

func runFaultGroup(string) int { return 2 }
