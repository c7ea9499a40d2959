using VmLab.Cli;

namespace VmLab.Cli.Tests.PageTables;

public sealed class PageTablePluginsCommandTests
{
    private static (int Code, string Out, string Err) Vmlab(params string[] args)
    {
        var stdout = new StringWriter();
        var stderr = new StringWriter();
        int code = new VmLabCommand(stdout, stderr).Run(args);
        return (code, stdout.ToString(), stderr.ToString());
    }

    [Fact]
    public void PluginsListsEveryPageTableFormatWithItsOptions()
    {
        var (code, output, _) = Vmlab("plugins", "--kind", "page-table");
        Assert.Equal(0, code);
        var lines = output.Split('\n');
        foreach (var (name, options) in new (string, string[])[]
                 {
                     ("x86-32", ["pwcEntries = 0"]),
                     ("x86-32-pae", ["pwcEntries = 0"]),
                     ("x86-64", ["levels = 4", "pwcEntries = 0"]),
                     ("arm64", ["hardwareAccessFlag = true", "hardwareDirty = true", "topByteIgnore = true", "pwcEntries = 0"]),
                     ("riscv", ["mode = sv39", "hardwareAccessDirty = true", "pwcEntries = 0"]),
                     ("hashed", ["groupBits = 11"]),
                 })
        {
            int at = Array.FindIndex(lines, l => l.TrimStart().StartsWith(name + " ", StringComparison.Ordinal));
            Assert.True(at >= 0, $"{name} is not listed");
            var block = lines.Skip(at + 1).TakeWhile(l => l.StartsWith("      ", StringComparison.Ordinal)).ToList();
            foreach (var option in options) Assert.Contains(block, l => l.Contains(option, StringComparison.Ordinal));
        }
    }

    [Fact]
    public void BadPageTableOptionExitsWithCodeTwoAndNamesTheKey()
    {
        string root = AppContext.BaseDirectory;
        while (!File.Exists(Path.Combine(root, "VmLab.sln"))) root = Path.GetDirectoryName(root)!;
        var (code, output, error) = Vmlab("check", Path.Combine(root, "configs", "pt-x86-64.json"), "--set", "machine:pageTable:options:levels=6");
        Assert.Equal(2, code);
        Assert.Contains("machine:pageTable:options:levels", error);
        Assert.Contains("4 to 5", error);
        Assert.DoesNotContain("   at ", error);
        Assert.Equal("", output);
    }
}
