namespace VmLab.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        var profile = StartupProfile.FromEnvironment(Console.Error);
        profile.Mark("main");
        int code = new VmLabCommand(Console.Out, Console.Error) { Profile = profile }.Run(args);
        profile.Mark("exit");
        return code;
    }
}
