[assembly: VmLab.Abstractions.Plugins.VmLabPlugin(typeof(VmLab.Plugins.Workloads.WorkloadsModule))]
