using System.Diagnostics;
using System.Globalization;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using System.Text;

namespace VmLab.Cli;

/// <summary>
/// The vmlab-lackey valgrind tool (<c>tools/vmlab-lackey/vl_main.c</c>, embedded in this assembly): Lackey's
/// <c>--trace-mem=yes</c> records, record for record, written to valgrind's log a MiB at a time instead of one
/// <c>write</c> per record. It is compiled with gcc on first use against the installed valgrind's
/// <c>libcoregrind</c>/<c>libvex</c>, linked at the load address of the stock tools, and kept in a cache folder
/// together with links to the stock files of valgrind's lib folder, so <c>VALGRIND_LIB=&lt;folder&gt; valgrind
/// --tool=vmlab</c> runs it.
/// </summary>
internal sealed class ValgrindTool
{
    /// <summary>The name valgrind is given in <c>--tool=</c>.</summary>
    public const string Name = "vmlab";

    private const string Platform = "amd64-linux";
    private const string SourceResource = "VmLab.Cli.vmlab-lackey.vl_main.c";

    private ValgrindTool(string libDirectory) => LibDirectory = libDirectory;

    /// <summary>The folder to give valgrind as <c>VALGRIND_LIB</c>.</summary>
    public string LibDirectory { get; }

    /// <summary>
    /// The tool for <paramref name="valgrind"/>, built into <paramref name="cacheRoot"/> if it is not there yet, or null
    /// with the reason in <paramref name="why"/> when it cannot be built here.
    /// </summary>
    public static ValgrindTool? Prepare(string valgrind, string cacheRoot, out string why)
    {
        why = "";
        if (!OperatingSystem.IsLinux() || RuntimeInformation.ProcessArchitecture != Architecture.X64)
        {
            why = $"it is built for {Platform} only";
            return null;
        }
        string prefix = Path.GetDirectoryName(Path.GetDirectoryName(ResolveLinks(valgrind))!) ?? "/";
        string? stockLib = FirstWith([Path.Combine(prefix, "libexec", "valgrind"),
            Path.Combine(prefix, "lib", "x86_64-linux-gnu", "valgrind"), Path.Combine(prefix, "lib", "valgrind")], $"lackey-{Platform}");
        if (stockLib is null)
        {
            why = $"valgrind's lackey-{Platform} was not found under {prefix}/libexec/valgrind or {prefix}/lib/valgrind";
            return null;
        }
        string? staticLib = FirstWith([stockLib, Path.Combine(prefix, "lib", "x86_64-linux-gnu", "valgrind"), Path.Combine(prefix, "lib", "valgrind")],
            $"libcoregrind-{Platform}.a");
        if (staticLib is null)
        {
            why = $"libcoregrind-{Platform}.a was not found (install valgrind's development files, e.g. apt-get install valgrind)";
            return null;
        }
        string include = Path.Combine(prefix, "include", "valgrind");
        if (!File.Exists(Path.Combine(include, "pub_tool_basics.h")))
        {
            why = $"valgrind's tool headers are not in {include} (install valgrind's development files)";
            return null;
        }
        string? gcc = OnPath("gcc");
        if (gcc is null)
        {
            why = "gcc is not on PATH";
            return null;
        }
        string stockTool = Path.Combine(stockLib, $"lackey-{Platform}");
        ulong loadAddress;
        try { loadAddress = FirstLoadAddress(stockTool); }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            why = $"the load address of {stockTool} could not be read ({e.Message})";
            return null;
        }

        string source = ReadSource();
        string[] flags =
        [
            "-m64", "-O2", "-std=gnu99", "-fno-strict-aliasing", "-fno-builtin", "-fomit-frame-pointer", "-fno-stack-protector", "-fno-pie",
            "-DVGA_amd64=1", "-DVGO_linux=1", "-DVGP_amd64_linux=1", "-DVGPV_amd64_linux_vanilla=1", $"-I{include}",
        ];
        string[] link =
        [
            "-static", "-nodefaultlibs", "-nostartfiles", "-u", "_start", "-no-pie", $"-Wl,-Ttext-segment=0x{loadAddress:x}",
            Path.Combine(staticLib, $"libcoregrind-{Platform}.a"), Path.Combine(staticLib, $"libvex-{Platform}.a"), "-lgcc",
            Path.Combine(staticLib, $"libgcc-sup-{Platform}.a"),
        ];
        // The folder is named after everything the build depends on, so a new valgrind or a changed source builds anew.
        var coregrind = new FileInfo(Path.Combine(staticLib, $"libcoregrind-{Platform}.a"));
        string key = Convert.ToHexStringLower(SHA256.HashData(Encoding.UTF8.GetBytes(string.Join('\n',
            source, string.Join(' ', flags), string.Join(' ', link), stockLib, coregrind.Length.ToString(CultureInfo.InvariantCulture),
            coregrind.LastWriteTimeUtc.Ticks.ToString(CultureInfo.InvariantCulture)))))[..16];
        string folder = Path.Combine(cacheRoot, $"valgrind-tool-{key}");
        if (File.Exists(Path.Combine(folder, $"{Name}-{Platform}"))) return new ValgrindTool(folder);

        Directory.CreateDirectory(cacheRoot);
        string temp = Path.Combine(cacheRoot, $".build-{key}-{Environment.ProcessId.ToString(CultureInfo.InvariantCulture)}");
        try
        {
            if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true);
            Directory.CreateDirectory(temp);
            string sourcePath = Path.Combine(temp, "vl_main.c");
            File.WriteAllText(sourcePath, source);
            var psi = new ProcessStartInfo(gcc) { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var f in flags) psi.ArgumentList.Add(f);
            psi.ArgumentList.Add("-o");
            psi.ArgumentList.Add(Path.Combine(temp, $"{Name}-{Platform}"));
            psi.ArgumentList.Add(sourcePath);
            foreach (var f in link) psi.ArgumentList.Add(f);
            using (var process = Process.Start(psi) ?? throw new IOException("gcc did not start"))
            {
                var output = process.StandardOutput.ReadToEndAsync();
                string errors = process.StandardError.ReadToEnd();
                output.Wait();
                process.WaitForExit();
                if (process.ExitCode != 0)
                {
                    string first = errors.Split('\n', StringSplitOptions.RemoveEmptyEntries).FirstOrDefault(l => l.Contains("error", StringComparison.Ordinal)) ?? errors.Trim();
                    why = $"gcc could not build it: {first}";
                    return null;
                }
            }
            File.Delete(sourcePath);
            // valgrind finds its preload libraries, suppressions and debugger files in VALGRIND_LIB: link the stock ones.
            foreach (var file in Directory.EnumerateFiles(stockLib))
            {
                string target = Path.Combine(temp, Path.GetFileName(file));
                if (!File.Exists(target)) File.CreateSymbolicLink(target, file);
            }
            try { Directory.Move(temp, folder); }
            catch (IOException) when (File.Exists(Path.Combine(folder, $"{Name}-{Platform}"))) { } // built meanwhile by another run
            return new ValgrindTool(folder);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.ComponentModel.Win32Exception)
        {
            why = $"it could not be built in {cacheRoot} ({e.Message})";
            return null;
        }
        finally
        {
            try { if (Directory.Exists(temp)) Directory.Delete(temp, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
        }
    }

    /// <summary>The folder tools are built into: <c>$VMLAB_CACHE</c>, else <c>$XDG_CACHE_HOME/vmlab</c>, else <c>~/.cache/vmlab</c>.</summary>
    public static string DefaultCacheRoot()
    {
        if (Environment.GetEnvironmentVariable("VMLAB_CACHE") is { Length: > 0 } cache) return cache;
        if (Environment.GetEnvironmentVariable("XDG_CACHE_HOME") is { Length: > 0 } xdg) return Path.Combine(xdg, "vmlab");
        return Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "vmlab");
    }

    /// <summary>The tool's C source, as embedded in this assembly.</summary>
    public static string ReadSource()
    {
        using var stream = typeof(ValgrindTool).Assembly.GetManifestResourceStream(SourceResource)
            ?? throw new InvalidOperationException($"the resource {SourceResource} is missing from the build");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }

    private static string? FirstWith(string?[] folders, string file) =>
        folders.FirstOrDefault(d => !string.IsNullOrEmpty(d) && File.Exists(Path.Combine(d, file)));

    private static string? OnPath(string tool) =>
        (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, tool)).FirstOrDefault(File.Exists);

    private static string ResolveLinks(string path)
    {
        var info = new FileInfo(path);
        return info.ResolveLinkTarget(returnFinalTarget: true)?.FullName ?? info.FullName;
    }

    /// <summary>The virtual address of the first PT_LOAD segment of a 64-bit little-endian ELF file: where valgrind's tools are linked.</summary>
    internal static ulong FirstLoadAddress(string elf)
    {
        using var file = File.OpenRead(elf);
        Span<byte> header = stackalloc byte[64];
        file.ReadExactly(header);
        if (header[0] != 0x7f || header[1] != (byte)'E' || header[2] != (byte)'L' || header[3] != (byte)'F' || header[4] != 2 || header[5] != 1)
            throw new InvalidDataException("not a 64-bit little-endian ELF file");
        long phoff = BitConverter.ToInt64(header[0x20..]);
        int phentsize = BitConverter.ToUInt16(header[0x36..]);
        int phnum = BitConverter.ToUInt16(header[0x38..]);
        Span<byte> ph = stackalloc byte[56];
        for (int i = 0; i < phnum; i++)
        {
            file.Position = phoff + (long)i * phentsize;
            file.ReadExactly(ph);
            if (BitConverter.ToUInt32(ph) == 1) return BitConverter.ToUInt64(ph[0x10..]);
        }
        throw new InvalidDataException("it has no loadable segment");
    }
}
