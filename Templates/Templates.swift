import Foundation

/// The Mustache page templates of the site, shipped as package resources.
public enum FlywheelTemplates {
    /// The folder holding `*.mustache` files.
    public static var directory: URL {
        Bundle.module.resourceURL!.appendingPathComponent("pages", isDirectory: true)
    }
}
