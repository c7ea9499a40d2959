using Newtonsoft.Json;
using VmLab.Abstractions;
using VmLab.Abstractions.Faults;
using VmLab.Abstractions.Plugins;

[assembly: VmLabPlugin(typeof(VmLab.TestPlugins.JsonOld.Module))]

namespace VmLab.TestPlugins.JsonOld;

/// <summary>
/// A fault handler that declines every fault; at construction it records the major version of the Newtonsoft.Json
/// it sees in the metric <c>json-old.newtonsoft.major</c>, after a round trip through that library.
/// </summary>
public sealed class JsonVersionHandler : IFaultHandler
{
    public JsonVersionHandler(IMetrics metrics)
    {
        var version = JsonConvert.DeserializeObject<int[]>(JsonConvert.SerializeObject(new[] { typeof(JsonConvert).Assembly.GetName().Version!.Major }))!;
        metrics.Counter("json-old.newtonsoft.major").Value = version[0];
    }

    public FaultResult Handle(in PageFault fault, IMemoryManager mm) => FaultResult.Declined;
}

public sealed class Module : IPluginModule
{
    public void Register(IPluginRegistry registry) =>
        registry.AddFaultHandler<JsonVersionHandler, NoOptions>(
            "json-old",
            $"Declines every fault; sees Newtonsoft.Json {typeof(JsonConvert).Assembly.GetName().Version} (test plugin).",
            c => new JsonVersionHandler(c.Metrics));
}
