namespace VmLab.Core;

/// <summary>
/// A plugin broke its contract in a way the core detects later, in its own code (a replacement policy naming a frame
/// that is not a reclaim candidate): the plugin at fault is the component at <see cref="KeyPath"/>, not whichever
/// plugin is on the stack when the core notices.
/// </summary>
public sealed class PluginContractException(string keyPath, string message) : InvalidOperationException(message)
{
    /// <summary>The config key of the component at fault, e.g. <c>machine:replacement</c>.</summary>
    public string KeyPath { get; } = keyPath;
}
