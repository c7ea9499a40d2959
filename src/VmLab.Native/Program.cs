using System.Collections.Frozen;
using System.Diagnostics;
using System.Runtime.InteropServices;
using VmLab.Cli;
using VmLab.Host.Plugins;

namespace VmLab.Native;

/// <summary>
/// The native vmlab: runs <c>vmlab run</c>, <c>vmlab check</c>, <c>vmlab sweep</c> and a sweep's workers with the
/// built-in plugins compiled in, and hands every other command to the managed vmlab beside it, as it does a command that
/// needs a plugin folder of its own: it has then printed nothing and written no results (the built-in folders'
/// manifests excepted, which the managed command writes alike). <c>VMLAB_NATIVE=0</c> hands over everything.
/// </summary>
public static class Program
{
    /// <summary>The commands this executable runs itself: runs, checks, sweeps and their workers.</summary>
    internal static readonly FrozenSet<string> NativeCommands = FrozenSet.Create(StringComparer.Ordinal, "run", "check", "sweep", "sweep-worker");

    public static int Main(string[] args)
    {
        if (!RunsNatively(args, Environment.GetEnvironmentVariable("VMLAB_NATIVE"))) return ManagedCommand.Run(args);
        try
        {
            return Cli.Program.Run(args, CompiledInPluginLoader.Hosting);
        }
        catch (PluginDirectoryNotLoadableException)
        {
            return ManagedCommand.Run(args);
        }
    }

    /// <summary>
    /// A command this executable runs, unless <paramref name="setting"/> (<c>VMLAB_NATIVE</c>) is 0 or an argument names
    /// an existing file of no length: a pipe or <c>/dev/stdin</c> (or an empty file, which the managed command reports
    /// just as well). Read here first, a pipe would be empty for the managed command if the command then went there.
    /// </summary>
    internal static bool RunsNatively(string[] args, string? setting) =>
        setting != "0" && args.Length > 0 && NativeCommands.Contains(args[0]) && !args.Skip(1).Any(IsEmptyOrStream);

    private static bool IsEmptyOrStream(string arg)
    {
        try
        {
            var info = new FileInfo(arg);
            return info.Exists && info.Length == 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            return false;
        }
    }
}

/// <summary>
/// The managed vmlab beside this executable (<c>vmlab.dll</c>), run with the same arguments in place of this process:
/// with <c>dotnet</c> (or <c>VMLAB_DOTNET</c>) found on PATH, the same standard streams and working directory, and the
/// environment with <c>VMLAB_NATIVE=0</c> added, so that a sweep handed over does not start native workers that would
/// hand themselves over again. Where the process cannot be replaced, the managed command runs as a child and its exit
/// code is returned.
/// </summary>
internal static partial class ManagedCommand
{
    public static int Run(string[] args)
    {
        string dll = Path.Combine(AppContext.BaseDirectory, "vmlab.dll");
        if (!File.Exists(dll))
        {
            Console.Error.WriteLine($"vmlab: this command needs the managed vmlab, {dll}, which is not there: publish src/VmLab.Cli into {AppContext.BaseDirectory}");
            return VmLabCommand.ExitBadInput;
        }
        string dotnet = Environment.GetEnvironmentVariable("VMLAB_DOTNET") is { Length: > 0 } d ? d : "dotnet";
        Console.Out.Flush();
        Console.Error.Flush();
        string reason;
        try
        {
            setenv("VMLAB_NATIVE", "0", 1);
            execvp(dotnet, [dotnet, dll, .. args, null]);
            // Only on failure does execvp return.
            reason = $"exec failed, errno {Marshal.GetLastPInvokeError()}";
        }
        catch (Exception e) when (e is DllNotFoundException or EntryPointNotFoundException)
        {
            reason = e.Message;
        }
        try
        {
            var start = new ProcessStartInfo(dotnet, [dll, .. args]) { UseShellExecute = false };
            start.Environment["VMLAB_NATIVE"] = "0";
            using var child = Process.Start(start)!;
            child.WaitForExit();
            return child.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Console.Error.WriteLine($"vmlab: cannot start the managed vmlab with {dotnet} ({reason}; {e.Message}); set VMLAB_DOTNET to the dotnet to use");
            return VmLabCommand.ExitBadInput;
        }
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int execvp(string file, string?[] argv);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int setenv(string name, string value, int overwrite);
}
