namespace VmLab.Cli;

/// <summary>Wrong command-line arguments: exit code 2 with the message and a pointer to the usage.</summary>
public sealed class UsageException(string message) : Exception(message);
