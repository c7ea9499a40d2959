using System.Runtime.InteropServices;

namespace VmLab.Host.Results;

/// <summary>
/// Puts a finished file at a path that must not exist yet, in one indivisible step: of several writers (threads or
/// processes) placing files at one path at the same moment, exactly one succeeds and every other finds its file there
/// and changes nothing. <see cref="File.Move(string, string, bool)"/> with <c>overwrite: false</c> does not give this
/// on Unix: it checks that the destination is missing, then renames, so two writers that both check before either
/// renames both succeed and the second silently replaces the first's file — under whoever already opened it.
/// </summary>
internal static partial class NewFile
{
    /// <summary>
    /// Makes <paramref name="built"/> the file at <paramref name="destination"/> unless something is there already.
    /// Linux renames with <c>RENAME_NOREPLACE</c>; where the file system refuses that flag, and on other Unix
    /// systems, a hard link is made (it fails when the name exists); Windows' move never replaces. Only on a file
    /// system that offers neither does it fall back to a check followed by a rename.
    /// </summary>
    /// <returns>
    /// True when the file at <paramref name="destination"/> is now <paramref name="built"/>; false when something
    /// was there already (it is left as it was). <paramref name="built"/> may still exist afterwards (a hard link
    /// keeps its name): deleting it is the caller's.
    /// </returns>
    public static bool Place(string built, string destination)
    {
        if (!OperatingSystem.IsWindows())
        {
            if (OperatingSystem.IsLinux())
            {
                int renamed = RenameNoReplace(built, destination, out int renameError);
                if (renamed == 0) return true;
                if (renameError == EExist) return false;
                // EINVAL: this file system does not take the flag; ENOSYS: a kernel before 3.15. A hard link still works.
            }
            int linked = TryLink(built, destination, out int linkError);
            if (linked == 0) return true;
            if (linkError == EExist) return false;
            // No hard links here (a FAT file system, some FUSE ones, no C library to call): the check-then-rename below
            // is all there is.
        }
        try
        {
            File.Move(built, destination, overwrite: false);
            return true;
        }
        catch (IOException) when (File.Exists(destination) || Directory.Exists(destination))
        {
            return false;
        }
    }

    /// <summary>EEXIST, the same number on Linux, macOS and the BSDs.</summary>
    private const int EExist = 17;
    private const int AtFdCwd = -100;
    private const uint RenameNoReplaceFlag = 1;

    private static int RenameNoReplace(string from, string to, out int error) =>
        Call(() => RenameAt2(AtFdCwd, from, AtFdCwd, to, RenameNoReplaceFlag), out error);

    private static int TryLink(string from, string to, out int error) => Call(() => Link(from, to), out error);

    /// <summary>
    /// A C library call: its result, and errno when it failed; -1 with error -1 when the library or the function is
    /// missing (a C library without renameat2, glibc before 2.28 or an older musl, or none found).
    /// </summary>
    private static int Call(Func<int> call, out int error)
    {
        error = 0;
        try
        {
            int rc = call();
            if (rc != 0) error = Marshal.GetLastPInvokeError();
            return rc;
        }
        catch (Exception e) when (e is EntryPointNotFoundException or DllNotFoundException)
        {
            error = -1;
            return -1;
        }
    }

    [LibraryImport("libc", EntryPoint = "renameat2", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int RenameAt2(int olddirfd, string oldpath, int newdirfd, string newpath, uint flags);

    [LibraryImport("libc", EntryPoint = "link", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Link(string oldpath, string newpath);
}
