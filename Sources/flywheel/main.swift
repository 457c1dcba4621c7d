import FlywheelCLI

// Before any other thread starts (see prepareProcess).
FlywheelCommand.prepareProcess()
await FlywheelCommand.runMain()
