using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Traces;

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

/// <summary>A trace format that wrongly expects a component context (formats are shared objects, made without one).</summary>
public sealed class ContextFormat(object options) : ITraceFormat
{
    public string Name => "needs-context";
    public string Description => options.ToString() ?? "";
    public IReadOnlyList<string> Extensions => [".ctx"];
    public bool CanWrite => false;
    public TraceMatch Sniff(ReadOnlySpan<byte> head, bool complete, string fileName) => TraceMatch.No;
    public ITraceReader OpenReader(Stream input, TraceReaderOptions options) => throw new NotSupportedException();
    public ITraceWriter CreateWriter(Stream output, TraceWriterOptions options) => throw new NotSupportedException();
}

/// <summary>
/// Registers the "prefetcher" extension point and one component of it, plus two mistakes the host must report
/// without losing the good registrations: a component of an extension point nobody registered, one whose type
/// does not implement the contract, and a trace format whose factory needs a context.
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
        registry.Add(new PluginRegistration(ExtensionPoints.TraceFormat, "needs-context", "made from a context", typeof(ContextFormat), typeof(NoOptions), c => new ContextFormat(c.Options)));
    }
}
