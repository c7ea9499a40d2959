using VmLab.Abstractions.Plugins;

[assembly: VmLabPlugin(typeof(VmLab.TestPlugins.ExtensionPoint.PrefetchersModule))]

namespace VmLab.TestPlugins.ExtensionPoint;

/// <summary>An extension point this plugin defines: pages to prefetch after a miss.</summary>
public interface IPrefetcher
{
    IEnumerable<ulong> After(ulong page);
}

public sealed record NextLineOptions
{
    /// <summary>Pages fetched after the missing one.</summary>
    public int Degree { get; init; } = 1;
}

public sealed class NextLine(int degree) : IPrefetcher
{
    public IEnumerable<ulong> After(ulong page)
    {
        for (int i = 1; i <= degree; i++) yield return page + (ulong)i;
    }
}

/// <summary>Not a prefetcher: registered as one to show the host refuses it.</summary>
public sealed class NotAPrefetcher;

/// <summary>
/// Registers the "prefetcher" extension point and one component of it, plus two mistakes the host must report
/// without losing the good registrations: a component of an extension point nobody registered, and one whose type
/// does not implement the contract.
/// </summary>
public sealed class PrefetchersModule : IPluginModule
{
    public void Register(IPluginRegistry registry)
    {
        registry.AddExtensionPoint(new ExtensionPointDescriptor("prefetcher", typeof(IPrefetcher), "", ExtensionPointCount.Many,
            "page prefetcher consulted after a TLB miss"));
        registry.AddComponent<NextLine, NextLineOptions>("prefetcher", "next-line", "prefetches the next pages", c => new NextLine(c.Options.Degree));
        registry.AddComponent<NextLine, NextLineOptions>("prefetchr", "misspelt", "registered under a misspelt extension point", c => new NextLine(1));
        registry.Add(new PluginRegistration("prefetcher", "wrong-type", "does not implement IPrefetcher", typeof(NotAPrefetcher), typeof(NoOptions), _ => new NotAPrefetcher()));
    }
}
