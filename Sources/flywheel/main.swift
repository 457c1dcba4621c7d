import FlywheelCLI

await FlywheelCommand.runMain()
