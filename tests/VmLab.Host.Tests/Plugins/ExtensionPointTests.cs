using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Tlb;
using VmLab.Abstractions.Traces;
using VmLab.Host.Plugins;

namespace VmLab.Host.Tests.Plugins;

public sealed class ExtensionPointTests
{
    [Fact]
    public void TheHostRegistersTheBuiltInExtensionPointsWithTheirContractConfigPathAndCount()
    {
        var catalog = new PluginCatalog(new McMasterPluginAssemblyLoader());
        Assert.Equal(["page-table", "tlb", "replacement", "fault-handler", "signals", "workload", "device", "trace-format", "timing", "cache"], catalog.ExtensionPointNames);
        var tlb = catalog.FindExtensionPoint("TLB")!;
        Assert.Equal(typeof(ITlb), tlb.Contract);
        Assert.Equal("machine:tlb", tlb.ConfigPath);
        Assert.Equal(ExtensionPointCount.One, tlb.Count);
        Assert.Equal(ExtensionPointCount.Many, catalog.FindExtensionPoint("fault-handler")!.Count);
        Assert.Equal(typeof(ITraceFormat), catalog.FindExtensionPoint("trace-format")!.Contract);
        var timing = catalog.FindExtensionPoint("timing")!;
        Assert.Equal(typeof(VmLab.Abstractions.Timing.ITimingModel), timing.Contract);
        Assert.Equal("machine:timing", timing.ConfigPath);
        Assert.Equal(ExtensionPointCount.Optional, timing.Count);
        Assert.Equal("machine:cache", catalog.FindExtensionPoint("cache")!.ConfigPath);
    }

    [Fact]
    public void AContract12RegistrationByKindLandsOnTheNamedExtensionPoint()
    {
        var registration = new PluginRegistration(PluginKind.FaultHandler, "x", "d", typeof(object), typeof(NoOptions), _ => new object());
        Assert.Equal("fault-handler", registration.ExtensionPoint);
        var byName = new PluginRegistration("prefetcher", "y", "d", typeof(object), typeof(NoOptions), _ => new object());
        Assert.Equal(PluginKind.Other, byName.Kind);
        Assert.Equal("prefetcher", byName.ExtensionPoint);
    }

    [Fact]
    public void APluginRegistersItsOwnExtensionPointAndComponentsOfIt()
    {
        var catalog = PluginCatalog.CreateDefault();
        string folder = TestPlugins.Folder("ExtensionPoint");
        catalog.AddDirectory(folder);

        var point = catalog.FindExtensionPoint("prefetcher")!;
        Assert.Equal("IPrefetcher", point.Contract.Name);
        Assert.Equal("prefetcher", catalog.ExtensionPointNames[^1]);
        Assert.Equal(folder, catalog.ExtensionPointInfos.Single(e => e.Descriptor.Name == "prefetcher").Folder);

        var nextLine = catalog.Find("prefetcher", "next-line")!;
        Assert.Equal("prefetcher", nextLine.Kind);
        IPluginDirectory directory = catalog;
        Assert.Equal(["next-line"], directory.Components("prefetcher").Select(r => r.Name));
        Assert.Same(nextLine.Registration, directory.Find("prefetcher", "NEXT-LINE"));
    }

    [Fact]
    public void ComponentsOfAnUnregisteredExtensionPointOfTheWrongTypeOrATraceFormatNeedingAContextAreReportedAndTheRestLoads()
    {
        var catalog = PluginCatalog.CreateDefault();
        string folder = TestPlugins.Folder("ExtensionPoint");
        catalog.AddDirectory(folder);

        var errors = catalog.Errors.Where(e => e.Folder == folder).Select(e => e.Message).ToList();
        Assert.Contains(errors, m => m.Contains("'misspelt' is registered under extension point 'prefetchr', which no one registered; did you mean 'prefetcher'?"));
        Assert.Contains(errors, m => m.Contains("prefetcher 'wrong-type':") && m.Contains("does not implement") && m.Contains("IPrefetcher"));
        Assert.Null(catalog.Find("prefetchr", "misspelt"));
        Assert.Null(catalog.Find("prefetcher", "wrong-type"));
        Assert.Contains(errors, m => m.Contains("trace-format 'needs-context': its factory must return the format object without a context"));
        Assert.Null(catalog.TraceFormats.Find("needs-context"));
        Assert.NotNull(catalog.TraceFormats.Find("lackey"));
        Assert.NotNull(catalog.Find("prefetcher", "next-line"));
        Assert.NotNull(catalog.Find(PluginKind.Tlb, "fully-associative"));
    }

    [Fact]
    public void TheBuiltInTraceFormatsAreComponentsOfTheTraceFormatExtensionPoint()
    {
        var catalog = PluginCatalog.CreateDefault();
        Assert.Equal(["champsim", "cloudsuite", "din", "lackey", "vmt"], catalog.NamesOf("trace-format"));
        Assert.Equal(["champsim", "cloudsuite", "din", "lackey", "vmt"], catalog.TraceFormats.Formats.Select(f => f.Name));
        Assert.True(catalog.TraceFormats.Find("vmt")!.CanWrite);
        Assert.False(catalog.TraceFormats.Find("champsim")!.CanWrite);
    }
}
