using VmLab.Abstractions;
using System.ComponentModel;
using System.ComponentModel.DataAnnotations;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Workloads;

[assembly: VmLabPlugin(typeof(VmLab.Plugins.Scenarios.ScenariosModule))]

namespace VmLab.Plugins.Scenarios;

public sealed record ScenarioOptions
{
    [Description("Scenario file (.vms), relative to the config file.")]
    [Required]
    [ExistingFile]
    public string Path { get; init; } = "";
}

/// <summary>Runs a scenario file: parsed (and fully checked) when the workload is created, executed step by step.</summary>
public sealed class ScenarioWorkload(string path, IReadOnlyList<Step> steps, IMetrics? metrics = null) : IWorkload
{
    public IReadOnlyList<Step> Steps => steps;

    public static ScenarioWorkload Load(string path, IMetrics? metrics = null) => new(path, ScenarioParser.Parse(path, File.ReadAllText(path)), metrics);

    /// <summary>Statements that need the machine's kernel half are refused, at their line, on a format without one.</summary>
    public void Validate(ISimulation simulation)
    {
        if (simulation.Kernel.KernelMemoryUnsupported is not { } why) return;
        var step = steps.FirstOrDefault(s => s is KthreadStep or KernelAllocStep or KernelAccessStep);
        if (step is not null) throw new VmLabInputException($"{path}:{step.Line}", why);
    }

    public void Run(ISimulation simulation, CancellationToken cancellationToken)
    {
        var run = new ScenarioRun(path, simulation) { Metrics = metrics };
        bool stopped = false;
        foreach (var step in steps)
        {
            cancellationToken.ThrowIfCancellationRequested();
            // After a panic the machine runs nothing more; expectations are still checked.
            if (simulation.Kernel.Panicked && step is not ExpectStep and not FileStep)
            {
                if (!stopped) run.Event(step.Line, "the machine has panicked: the remaining statements are not run");
                stopped = true;
                continue;
            }
            run.Line = step.Line;
            step.Execute(run);
        }
    }
}

public sealed class ScenariosModule : IPluginModule
{
    public void Register(IPluginRegistry registry) =>
        registry.AddWorkload<ScenarioWorkload, ScenarioOptions>(
            "scenario",
            "A scripted scenario (.vms): processes, mmap/fork/mprotect/..., reads and writes with values, signal handlers, expectations.",
            c => ScenarioWorkload.Load(c.ResolvePath(c.Options.Path), c.Metrics));
}
