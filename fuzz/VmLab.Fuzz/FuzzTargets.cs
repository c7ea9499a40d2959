using System.Text;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Host.Config;
using VmLab.Host.Plugins;
using VmLab.Host.Sweeps;
using VmLab.Plugins.Scenarios;
using VmLab.Traces;

namespace VmLab.Fuzz;

/// <summary>
/// The parsers that read user input, one entry point each, as the fuzzer and the corpus replay test drive them.
/// An input must end in a clean result or a clear error (<see cref="VmLabInputException"/>, <see cref="ConfigException"/>:
/// the CLI's exit 2); any other exception escapes and is a finding. Relative paths in configs and sweeps resolve against
/// <paramref name="baseDirectory"/> (the repository's <c>configs/sweeps</c>, so that a sweep's base experiment exists).
/// </summary>
public sealed class FuzzTargets(PluginCatalog catalog, string baseDirectory)
{
    public static readonly string[] Names = ["config", "sweep", "scenario", "lackey", "champsim", "din", "vmt"];

    /// <summary>Records decoded per input at most, so that a valid input describing a huge trace stays bounded.</summary>
    public const int MaxRecords = 100_000;

    private readonly ExperimentLoader _loader = new(catalog);

    /// <summary>Runs one input; returns null for a clean result or the clear error's message.</summary>
    public string? Run(string target, byte[] data)
    {
        try
        {
            Parse(target, data);
            return null;
        }
        catch (VmLabInputException e)
        {
            return e.Message;
        }
        catch (ConfigException e)
        {
            return e.Message;
        }
    }

    private void Parse(string target, byte[] data)
    {
        string Dir = baseDirectory;
        switch (target)
        {
            case "config":
                _loader.Load(data, "fuzz.json", Dir, "fuzz", []);
                break;
            case "sweep":
                new SweepLoader(_loader).Load(data, "fuzz.sweep.json", Dir, "fuzz");
                break;
            case "scenario":
                ScenarioParser.Parse("fuzz.vms", Encoding.UTF8.GetString(data));
                break;
            case "lackey":
                Drain(new LackeyReader(new MemoryStream(data), "fuzz.lackey", 0));
                break;
            case "champsim":
                Drain(new ChampSimReader(new MemoryStream(data), "fuzz.champsim", ChampSimLayout.Standard, 0, useAsid: false, fetches: true, accessSize: 1));
                Drain(new ChampSimReader(new MemoryStream(data), "fuzz.cloudsuite", ChampSimLayout.Cloudsuite, 0, useAsid: true, fetches: true, accessSize: 1));
                break;
            case "din":
                Drain(new DinReader(new MemoryStream(data), "fuzz.din", 0, 1));
                break;
            case "vmt":
                Drain(new VmtReader(new MemoryStream(data), "fuzz.vmt"));
                break;
            default:
                throw new ArgumentException($"unknown target '{target}'; one of {string.Join(", ", Names)}");
        }
    }

    private static void Drain(TraceReader reader)
    {
        using (reader)
        {
            reader.RecordLimit = MaxRecords;
            var buffer = new MemoryAccess[Math.Max(reader.MaxAccessesPerRecord, 256)];
            while (reader.Read(buffer) > 0) { }
        }
    }
}
