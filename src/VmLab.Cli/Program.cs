namespace VmLab.Cli;

public static class Program
{
    public static int Main(string[] args) => new VmLabCommand(Console.Out, Console.Error).Run(args);
}
