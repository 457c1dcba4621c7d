import Flywheel
