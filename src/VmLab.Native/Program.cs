using System.Diagnostics;
using System.Runtime.InteropServices;
using VmLab.Cli;
using VmLab.Host.Plugins;

namespace VmLab.Native;

/// <summary>
/// The native vmlab: runs <c>vmlab run</c>, <c>vmlab check</c>, <c>vmlab sweep</c> and a sweep's workers with the built-in plugins compiled in, and hands every
/// other command to the managed vmlab beside it, as it does a command that names a plugin folder of its own (nothing has
/// been read from the folder or written anywhere when it hands over). <c>VMLAB_NATIVE=0</c> hands over everything.
/// </summary>
public static class Program
{
    /// <summary>The commands this executable runs itself: runs, checks, sweeps and their workers.</summary>
    internal static readonly string[] NativeCommands = ["run", "check", "sweep", "sweep-worker"];

    public static int Main(string[] args)
    {
        if (!RunsNatively(args, Environment.GetEnvironmentVariable("VMLAB_NATIVE"))) return ManagedCommand.Run(args);
        var profile = StartupProfile.FromEnvironment(Console.Error);
        profile.Mark("main");
        try
        {
            int code = new VmLabCommand(Console.Out, Console.Error) { Profile = profile, Plugins = CompiledInPluginLoader.Hosting }.Run(args);
            profile.Mark("exit");
            return code;
        }
        catch (PluginDirectoryNotLoadableException)
        {
            return ManagedCommand.Run(args);
        }
    }

    internal static bool RunsNatively(string[] args, string? setting) =>
        setting != "0" && args.Length > 0 && NativeCommands.Contains(args[0], StringComparer.Ordinal);
}

/// <summary>
/// The managed vmlab beside this executable (<c>vmlab.dll</c>), run with the same arguments in place of this process:
/// with <c>dotnet</c> (or <c>VMLAB_DOTNET</c>) found on PATH, the same standard streams, environment and working
/// directory. Where the process cannot be replaced, the managed command runs as a child and its exit code is returned.
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
        string?[] argv = [dotnet, dll, .. args, null];
        execvp(dotnet, argv);
        // Only on failure does execvp return.
        try
        {
            using var child = Process.Start(new ProcessStartInfo(dotnet, [dll, .. args]) { UseShellExecute = false })!;
            child.WaitForExit();
            return child.ExitCode;
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            Console.Error.WriteLine($"vmlab: cannot start the managed vmlab with {dotnet}: {e.Message} (set VMLAB_DOTNET to the dotnet to use)");
            return VmLabCommand.ExitBadInput;
        }
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int execvp([MarshalAs(UnmanagedType.LPUTF8Str)] string file, [MarshalAs(UnmanagedType.LPArray, ArraySubType = UnmanagedType.LPUTF8Str)] string?[] argv);
}
