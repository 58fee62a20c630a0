# shellcheck shell=bash
# mpi-settings.sh - Open MPI settings for runs across nodes, sourced by jobs/slurm-run.sh.
# Plain environment variables: source it before a `mpirun` by hand as well. Edit for your site;
# docs/cluster.md ("Network and node loss") explains each setting.

# The network between the nodes. JETCNN_NET names it: an interface (ib0, eth1) or a network in
# CIDR notation (10.1.0.0/16). When set, Open MPI uses TCP on that network only: the ranks' own
# traffic (btl tcp; ranks on the same node use shared memory, vader) and mpirun's control
# connections to its daemons (oob tcp). Empty: Open MPI's defaults (every interface but
# loopback, which picks the wrong one on nodes with a slow management network next to the fast one).
if [ -n "${JETCNN_NET:-}" ]; then
  export OMPI_MCA_pml=ob1                       # point-to-point over the BTLs below (not UCX)
  export OMPI_MCA_btl=self,vader,tcp
  export OMPI_MCA_btl_tcp_if_include=$JETCNN_NET
  export OMPI_MCA_oob_tcp_if_include=$JETCNN_NET
fi

# A node that vanishes without closing its connections (power loss, cut link, kernel panic):
# mpirun keeps one TCP connection to the daemon (orted) on each node; with keepalives on them it
# notices a silent node after keepalive_time + probes x intvl = 10 + 3 x 5 = 25 s (the defaults
# 300 + 9 x 20 = 480 s) and ends the job. Under srun, SLURM notices the node itself (slurmctld's
# SlurmdTimeout) and kills the job on the other nodes.
export OMPI_MCA_oob_tcp_keepalive_time=${OMPI_MCA_oob_tcp_keepalive_time:-10}
export OMPI_MCA_oob_tcp_keepalive_intvl=${OMPI_MCA_oob_tcp_keepalive_intvl:-5}
export OMPI_MCA_oob_tcp_keepalive_probes=${OMPI_MCA_oob_tcp_keepalive_probes:-3}
