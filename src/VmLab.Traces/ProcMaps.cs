using System.Globalization;
using VmLab.Abstractions;
using VmLab.Abstractions.Plugins;
using VmLab.Abstractions.Workloads;

namespace VmLab.Traces;

/// <summary>What a maps file's permission column means for the replay.</summary>
public enum MapsProtections
{
    /// <summary>Only the extent counts: every VMA is readable, writable and executable; addresses outside any VMA fault.</summary>
    Extent,
    /// <summary>The recorded permissions apply — a snapshot taken at one instant (after RELRO mprotect, say) may refuse earlier accesses.</summary>
    Recorded,
}

/// <summary>One line of <c>/proc/PID/maps</c>.</summary>
public readonly record struct MapsEntry(ulong Start, ulong End, Protection Protection, bool Shared, string Name);

/// <summary>
/// The address space of a traced process, from the text of its <c>/proc/PID/maps</c>: each line becomes a fixed VMA
/// with its protection, so accesses outside them fault as they would have for real. File-backed and special mappings
/// are modelled as anonymous memory of the same protection (a trace carries no file contents); <c>[stack]</c> grows
/// down; mappings above the user half (<c>[vsyscall]</c>) are left out.
/// </summary>
public static class ProcMaps
{
    public static List<MapsEntry> Parse(string path)
    {
        var result = new List<MapsEntry>();
        int lineNumber = 0;
        foreach (var raw in File.ReadLines(path))
        {
            lineNumber++;
            var line = raw.Trim();
            if (line.Length == 0) continue;
            var fields = line.Split(' ', 6, StringSplitOptions.RemoveEmptyEntries);
            int dash = fields.Length > 0 ? fields[0].IndexOf('-') : -1;
            if (fields.Length < 5 || dash <= 0 || fields[1].Length != 4
                || !ulong.TryParse(fields[0].AsSpan(0, dash), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong start)
                || !ulong.TryParse(fields[0].AsSpan(dash + 1), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out ulong end)
                || end <= start || (start & 0xFFF) != 0 || (end & 0xFFF) != 0)
                throw new VmLabInputException($"{path}:{lineNumber}",
                    $"malformed maps line \"{(line.Length > 80 ? line[..80] : line)}\"; expected /proc/PID/maps text such as \"55d0c8a00000-55d0c8a22000 r--p 00000000 08:01 1234 /usr/bin/ls\"");
            string perms = fields[1];
            var prot = Protection.None;
            if (perms[0] == 'r') prot |= Protection.Read;
            if (perms[1] == 'w') prot |= Protection.Write;
            if (perms[2] == 'x') prot |= Protection.Exec;
            if (perms[3] is not ('p' or 's') || perms[..3].Any(c => c is not ('r' or 'w' or 'x' or '-')))
                throw new VmLabInputException($"{path}:{lineNumber}", $"bad permissions '{perms}': four characters like r-xp or rw-s");
            result.Add(new MapsEntry(start, end, prot, perms[3] == 's', fields.Length > 5 ? fields[5].Trim() : ""));
        }
        return result;
    }

    /// <summary>Creates process <paramref name="pid"/> with the VMAs of the maps file. Returns how many were mapped.</summary>
    public static int Apply(IKernelApi kernel, int pid, string path, ulong userTop, MapsProtections protections = MapsProtections.Extent)
    {
        var entries = Parse(path);
        if (kernel.CreateProcess(pid) < 0)
            throw new VmLabInputException(path, $"process {pid} already exists; a maps file must be applied before its accesses");
        int mapped = 0;
        foreach (var e in entries)
        {
            if (e.End > userTop) continue;
            var flags = MapFlags.Fixed | MapFlags.Anonymous | (e.Shared ? MapFlags.Shared : MapFlags.Private);
            if (e.Name == "[stack]") flags |= MapFlags.GrowsDown;
            var prot = protections == MapsProtections.Recorded ? e.Protection : Protection.All;
            long r = kernel.Mmap(pid, e.Start, e.End - e.Start, prot, flags);
            if (r < 0) throw new VmLabInputException(path, $"mapping 0x{e.Start:x}-0x{e.End:x} failed ({Errno.Name(r)})");
            mapped++;
        }
        return mapped;
    }
}
