using VmLab.Host.Plugins;

namespace VmLab.Cli;

public static class Program
{
    public static int Main(string[] args) => Run(args, PluginHosting.FromFolders);

    /// <summary>The command on the console, with its start-up marks, its plugins coming from <paramref name="plugins"/>.</summary>
    public static int Run(string[] args, PluginHosting plugins)
    {
        var profile = StartupProfile.FromEnvironment(Console.Error);
        profile.Mark("main");
        int code = new VmLabCommand(Console.Out, Console.Error) { Profile = profile, Plugins = plugins }.Run(args);
        profile.Mark("exit");
        return code;
    }
}
