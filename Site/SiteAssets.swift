import Foundation

/// The site's static assets (CSS, JS, icons), shipped as package resources.
public enum FlywheelSiteAssets {
    /// The folder holding the assets, copied as-is into a built site's `assets/`.
    public static var directory: URL {
        Bundle.module.resourceURL!.appendingPathComponent("assets", isDirectory: true)
    }
}
