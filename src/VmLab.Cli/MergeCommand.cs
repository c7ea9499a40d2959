using System.CommandLine;
using VmLab.Host.Results;
using VmLab.Host.Running;

namespace VmLab.Cli;

/// <summary><c>vmlab merge a.db b.db ... -o all.db</c>: the union of the results of shards of one sweep.</summary>
internal sealed class MergeCommand(TextWriter stdout)
{
    public Command Definition() => Opt.Command("merge", "Merge the results databases of shards of one sweep into one.",
        Opt.Positional("databases", "the results databases to merge", ArgumentArity.OneOrMore),
        [Opt.Value("--output", "all.db", "the merged database to write", "-o")], Run);

    private int Run(Arguments a)
    {
        string output = a.Value("--output") ?? throw new UsageException("merge needs an output: vmlab merge a.db b.db ... -o all.db");
        if (a.Positionals.Count == 0) throw new UsageException("merge needs the databases to merge: vmlab merge a.db b.db ... -o all.db");
        var merged = ResultStore.Merge(a.Positionals, output);
        int completed = merged.Cases.Count(c => c.Status == RunResult.Completed);
        stdout.WriteLine($"merged {a.Positionals.Count} database(s) into {output}: {merged.Cases.Count} of {merged.Sweep.CaseCount} case(s) of sweep {merged.Sweep.Name} ({completed} completed, {merged.Cases.Count - completed} failed)");
        return VmLabCommand.ExitOk;
    }
}
